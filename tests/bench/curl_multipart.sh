#!/bin/bash
# The multipart baseline of backup-bench's s3 scenario: FILE uploaded to ENDPOINT/BUCKET/KEY
# as one S3 multipart upload by curl alone, PART_MB parts, PARALLEL of them at once (the
# protocol our S3 store speaks, without our code). Each part is cut to memory (/dev/shm) with
# dd and sent with curl -T; the upload is aborted when a part fails.
#   curl_multipart.sh ENDPOINT BUCKET KEY FILE PART_MB PARALLEL
set -euo pipefail
endpoint=$1 bucket=$2 key=$3 file=$4 part_mb=$5 parallel=$6
export url="$endpoint/$bucket/$key" file part_mb
export work
work=$(mktemp -d -p /dev/shm curl-multipart.XXXXXX)
trap 'rm -rf "$work"' EXIT
s3() {
  curl -sSf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}
export -f s3

upload_id=$(s3 -X POST "$url?uploads" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
[[ -n $upload_id ]] || { echo "curl_multipart: no upload id" >&2; exit 1; }
export upload_id
size=$(stat -c %s "$file")
parts=$(((size + (part_mb << 20) - 1) / (part_mb << 20)))

send_part() {
  local n=$1
  dd if="$file" of="$work/$n" bs=1M skip=$(((n - 1) * part_mb)) count="$part_mb" status=none
  s3 -T "$work/$n" -D "$work/$n.headers" -o /dev/null "$url?partNumber=$n&uploadId=$upload_id"
  rm -f "$work/$n"
}
export -f send_part
if ! seq 1 "$parts" | xargs -P "$parallel" -I{} bash -c 'send_part {}'; then
  echo "curl_multipart: a part failed; aborting upload $upload_id" >&2
  s3 -X DELETE "$url?uploadId=$upload_id" -o /dev/null || true
  exit 1
fi

{
  echo "<CompleteMultipartUpload>"
  for n in $(seq 1 "$parts"); do
    etag=$(tr -d '\r' <"$work/$n.headers" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
    echo "<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
  done
  echo "</CompleteMultipartUpload>"
} >"$work/complete.xml"
answer=$(s3 -X POST -H 'Content-Type: application/xml' --data-binary "@$work/complete.xml" \
  "$url?uploadId=$upload_id")
if [[ $answer == *"<Error>"* ]]; then
  echo "curl_multipart: completion failed: $answer" >&2
  exit 1
fi
