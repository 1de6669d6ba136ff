#!/usr/bin/env bash
# Checks the container image's recipe (deploy/container/Containerfile) without a container
# engine: no engine can build it here, since the base image comes from a registry this
# machine cannot reach. So that the recipe cannot rot unseen, this script
#   1. reads the build stage's packages and checks each exists in Debian 12;
#   2. runs the build stage's own `RUN cmake ...` step (and nothing else of the recipe) on a
#      copy of the tracked files (as its COPY . /src would see them): the image's Release
#      build;
#   3. reads the runtime stage's packages and the binaries it copies from the build stage,
#      and checks that every shared library each binary loads belongs to a runtime package,
#      to a package those depend on, or to a package every Debian image has (Priority
#      required).
# Prints what it checked; exits non-zero, naming the problem, on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=deploy/container/Containerfile
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The recipe as one instruction per line (continuations joined), comments dropped.
instructions=$(sed -e 's/#.*$//' "$recipe" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | grep -v '^\s*$')
stage_of() { # prints the instructions of stage N (0-based)
  awk -v n="$1" '/^FROM /{s++} s==n+1' <<<"$instructions"
}
packages_of() { # the package names after each "apt-get install" in the given text
  grep -o 'apt-get install[^&]*' | sed 's/apt-get install//' | tr ' ' '\n' |
    grep -v '^-' | grep -v '^$' || true
}

build_stage=$(stage_of 0)
runtime_stage=$(stage_of 1)
mapfile -t build_pkgs < <(packages_of <<<"$build_stage")
mapfile -t runtime_pkgs < <(packages_of <<<"$runtime_stage")
[ ${#build_pkgs[@]} -gt 0 ] || { echo "check-container: no build packages found" >&2; exit 1; }
[ ${#runtime_pkgs[@]} -gt 0 ] || { echo "check-container: no runtime packages found" >&2; exit 1; }
for p in "${build_pkgs[@]}" "${runtime_pkgs[@]}"; do
  apt-cache show "$p" >/dev/null 2>&1 || { echo "check-container: no Debian package $p" >&2; exit 1; }
done
echo "check-container: ${#build_pkgs[@]} build and ${#runtime_pkgs[@]} runtime packages exist"

# The build stage's commands, with its /src and /build mapped into $work.
mkdir -p "$work/src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/src"
grep '^RUN cmake ' <<<"$build_stage" | sed -e 's/^RUN //' \
  -e "s#/src#$work/src#g" -e "s#/build#$work/build#g" >"$work/build.sh"
[ -s "$work/build.sh" ] || { echo "check-container: no cmake step in the build stage" >&2; exit 1; }
# Only the build itself runs on this machine: never the recipe's package installs or removals.
if grep -qE 'apt-get|apt |dpkg|rm |rm$' "$work/build.sh"; then
  echo "check-container: the cmake step does more than build; run it in a container instead" >&2
  exit 1
fi
echo "check-container: running the build stage: $(tr '\n' ' ' <"$work/build.sh")"
bash -e "$work/build.sh" >"$work/build.log" 2>&1 || {
  tail -40 "$work/build.log" >&2
  echo "check-container: the image's build step fails" >&2
  exit 1
}

# Every library the copied binaries load comes with the runtime stage's packages.
allowed=$(
  {
    printf '%s\n' "${runtime_pkgs[@]}"
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "${runtime_pkgs[@]}" 2>/dev/null | grep -v '^ ' || true
    dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}'
  } | sed 's/:.*//' | sort -u
)
owner_of() { # the package that ships a library file (merged /usr aware)
  local path=$1 real
  real=$(readlink -f "$path")
  for candidate in "$path" "$real" "/usr$path" "${real#/usr}"; do
    dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 && return 0
  done
  return 1
}
binaries=$(grep -o 'COPY --from=build .*' <<<"$runtime_stage" | sed 's/COPY --from=build //' |
  tr ' ' '\n' | grep '^/build/bin/' | sed "s#^/build#$work/build#")
[ -n "$binaries" ] || { echo "check-container: the runtime stage copies no binary" >&2; exit 1; }
for bin in $binaries; do
  [ -x "$bin" ] || { echo "check-container: $bin was not built" >&2; exit 1; }
  while read -r lib; do
    pkg=$(owner_of "$lib") || { echo "check-container: no package owns $lib" >&2; exit 1; }
    grep -qx "$pkg" <<<"$allowed" || {
      echo "check-container: $(basename "$bin") needs $lib from $pkg, which the runtime stage does not install" >&2
      exit 1
    }
  done < <(ldd "$bin" | awk '/=> \// {print $3}')
  echo "check-container: $(basename "$bin"): every library comes with the runtime packages"
done
echo "check-container: the recipe builds and its runtime stage has what the binaries load"
