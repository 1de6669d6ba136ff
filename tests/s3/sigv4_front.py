#!/usr/bin/python3
"""A test-only front for s3rver that checks every request's AWS Signature Version 4.

s3rver 3.7 checks the access key but not V4 signatures. This front recomputes each
request's signature with botocore (Debian's python3-botocore, the signer of the AWS SDK
for Python), and checks that x-amz-content-sha256 is the SHA-256 of the body it received.
A request that fails either check gets S3's 403 SignatureDoesNotMatch (and the canonical
request on stderr); every other request is passed on to s3rver unchanged.

s3rver 3.7 has no AbortMultipartUpload nor ListMultipartUploads; the front answers those two
itself from s3rver's own folder (--s3rver-dir), as S3 would: DELETE ?uploadId removes the
upload's parts, GET ?uploads lists the uploads not completed or aborted.

Fault injection for the tests, by a control file re-read on every request (one word):
  "ok"          pass everything on (the default)
  "stall-puts"  hold every PUT's answer back for 60 s (a part timeout)
  "fail-puts N" answer the next N PUTs with 503 SlowDown (retries)
  "deny"        answer everything with 403 AccessDenied (a policy that changed)

Usage: sigv4_front.py --upstream http://127.0.0.1:PORT --port-file F --region R
       --access-key K --secret-key S --s3rver-dir DIR [--control FILE]
"""
import argparse
import hashlib
import os
import shutil
import xml.sax.saxutils
import http.client
import http.server
import sys
import threading
import time
import urllib.parse

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "te", "upgrade",
       "proxy-connection"}
lock = threading.Lock()


def error(handler, status, code, message):
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
            "<Message>%s</Message></Error>" % (code, message)).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def check_signature(args, handler, body):
    """Returns None when the request is signed right, else what is wrong."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "not signed with AWS4-HMAC-SHA256: %r" % auth[:40]
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    access_key, date, region, service, term = fields["Credential"].split("/")
    if access_key != args.access_key:
        return None  # s3rver answers InvalidAccessKeyId itself
    if region != args.region or service != "s3" or term != "aws4_request":
        return "credential scope %s" % fields["Credential"]
    amz_date = handler.headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return "x-amz-date %s outside the credential's date %s" % (amz_date, date)
    payload = handler.headers.get("x-amz-content-sha256", "")
    if payload != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 %r is not the SHA-256 of the %d-byte body" % (payload, len(body))
    signed = fields["SignedHeaders"].split(";")
    for required in ("host", "x-amz-date", "x-amz-content-sha256"):
        if required not in signed:
            return "%s is not signed" % required
    headers = {name: handler.headers.get(name, "") for name in signed}
    url = "http://%s%s" % (handler.headers["Host"], handler.path)
    request = AWSRequest(method=handler.command, url=url, headers=headers, data=body)
    request.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(args.access_key, args.secret_key), "s3", args.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != fields["Signature"]:
        return "signature differs; botocore's canonical request:\n" + canonical
    return None


def fault(args, method):
    if not args.control:
        return None
    try:
        with open(args.control) as f:
            words = f.read().split()
    except OSError:
        return None
    if words and words[0] == "deny":
        return "deny"
    if not words or method != "PUT":
        return None
    if words[0] == "stall-puts":
        return "stall"
    if words[0] == "fail-puts" and len(words) == 2 and int(words[1]) > 0:
        with lock:
            with open(args.control, "w") as f:
                f.write("fail-puts %d\n" % (int(words[1]) - 1))
        return "fail"
    return None


def uploads_dir(args, bucket):
    return os.path.join(args.s3rver_dir, bucket, "._S3rver_uploads")


def upload_key(args, bucket, upload_id):
    try:
        with open(os.path.join(uploads_dir(args, bucket), upload_id, "key")) as f:
            return f.read()
    except OSError:
        return None


def abort_upload(args, handler, bucket, key, upload_id):
    if "/" in upload_id or upload_key(args, bucket, upload_id) != key:
        return error(handler, 404, "NoSuchUpload", "The specified upload does not exist.")
    shutil.rmtree(os.path.join(uploads_dir(args, bucket), upload_id))
    handler.send_response(204)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def list_uploads(args, handler, bucket, prefix):
    try:
        ids = sorted(os.listdir(uploads_dir(args, bucket)))
    except OSError:
        ids = []
    items = ""
    for upload_id in ids:
        key = upload_key(args, bucket, upload_id)
        if key is not None and key.startswith(prefix):
            items += "<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>" % (
                xml.sax.saxutils.escape(key), upload_id)
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult>"
            "<Bucket>%s</Bucket>%s</ListMultipartUploadsResult>" % (bucket, items)).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def answered_here(args, handler):
    """Answers the two multipart calls s3rver lacks; False for everything else."""
    url = urllib.parse.urlsplit(handler.path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    parts = urllib.parse.unquote(url.path).strip("/").split("/", 1)
    if handler.command == "DELETE" and len(parts) == 2 and "uploadId" in query:
        abort_upload(args, handler, parts[0], parts[1], query["uploadId"][0])
        return True
    if handler.command == "GET" and len(parts) == 1 and "uploads" in query:
        list_uploads(args, handler, parts[0], query.get("prefix", [""])[0])
        return True
    return False


def make_handler(args):
    upstream = urllib.parse.urlsplit(args.upstream)

    class Front(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length", "0") or "0")
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the client went away mid-request (an aborted upload)
                self.close_connection = True
                return
            problem = check_signature(args, self, body)
            if problem:
                sys.stderr.write("sigv4_front: %s %s: %s\n" % (self.command, self.path, problem))
                sys.stderr.flush()
                return error(self, 403, "SignatureDoesNotMatch", problem.split("\n")[0])
            if answered_here(args, self):
                return
            injected = fault(args, self.command)
            if injected == "stall":
                time.sleep(60)
                return error(self, 503, "SlowDown", "stalled by the test")
            if injected == "deny":
                return error(self, 403, "AccessDenied", "Access Denied (the test's policy)")
            if injected == "fail":
                return error(self, 503, "SlowDown", "failed by the test")
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
            except OSError as e:
                return error(self, 503, "ServiceUnavailable", "upstream: %s" % e)
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            if answer.getheader("Content-Length") is None and self.command != "HEAD":
                data = answer.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.end_headers()
            if self.command == "HEAD":
                return
            while True:
                chunk = answer.read(1 << 20)
                if not chunk:
                    break
                self.wfile.write(chunk)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Front


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--access-key", default="S3RVER")
    p.add_argument("--secret-key", default="S3RVER")
    p.add_argument("--control")
    p.add_argument("--s3rver-dir", required=True)
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args))
    server.daemon_threads = True
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
