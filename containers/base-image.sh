#!/usr/bin/env bash
# A stand-in for the Dockerfile's base image where no registry is reachable: Debian by
# debootstrap, plus this machine's build of the same Python in /usr/local, imported under the
# Dockerfile's own tag (python:X.Y.Z-slim-RELEASE), so that the Dockerfile builds unchanged.
# Where a registry is reachable, `docker pull` gives the real image and this is not needed.
#
#   containers/base-image.sh [PYTHON_PREFIX]     (default: the prefix of .venv's Python)
#
# The image is labelled with a hash of its recipe (this script, the Python build, the host's
# CA bundle); a later run reuses an image whose label matches instead of building it again.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)
[[ $tag =~ ^python:([0-9]+\.[0-9]+\.[0-9]+)-slim-([a-z]+)$ ]] ||
  { echo "base-image: Dockerfile: ARG PYTHON_IMAGE=$tag is not python:X.Y.Z-slim-RELEASE" >&2; exit 1; }
version=${BASH_REMATCH[1]} release=${BASH_REMATCH[2]} minor=${BASH_REMATCH[1]%.*}
prefix=${1:-$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')}
found=$("$prefix/bin/python$minor" -c 'import platform; print(platform.python_version())' 2>/dev/null) || found=none
[[ $found == "$version" ]] ||
  { echo "base-image: $prefix/bin/python$minor is Python $found, the Dockerfile's base has $version" >&2; exit 1; }

# The host's trust store goes in, so that pip inside the build trusts what this machine trusts
# (a TLS-inspecting proxy's CA, where there is one).
host_ca=/etc/ssl/certs/ca-certificates.crt
recipe=$( { cat "$0"; echo "$version $release"; sha256sum "$prefix/bin/python$minor" "$prefix/lib/libpython$minor.so.1.0" 2>/dev/null; cat "$host_ca" 2>/dev/null; } | sha256sum | cut -c1-16)
label=org.sentiment-pipeline.base-recipe
if have=$(docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$tag" 2>/dev/null); then
  case $have in
    "$recipe") echo "base-image: $tag (stand-in, recipe $recipe) is already here"; exit 0 ;;
    "") echo "base-image: $tag is already here (pulled)"; exit 0 ;;
  esac
elif docker pull --quiet "$tag" >/dev/null 2>&1; then
  echo "base-image: pulled $tag"
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "base-image: installing Debian's debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
}
root=$(mktemp -d /var/tmp/base-image.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "base-image: debootstrap $release into $root"
# The shared libraries Python's standard modules link against (as the official slim image has).
debootstrap --variant=minbase \
  --include=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libexpat1,libnsl2,libtirpc3 \
  "$release" "$root" http://deb.debian.org/debian >/dev/null

echo "base-image: Python $version from $prefix"
# The interpreter and the standard library only: no site-packages, no tests, no Tk.
tar -C "$prefix" -c \
  --exclude="lib/python$minor/site-packages/*" --exclude="lib/python$minor/test" \
  --exclude="lib/python$minor/idlelib" --exclude="lib/python$minor/tkinter" \
  --exclude='_tkinter*' --exclude=__pycache__ --exclude='libpython*.a' \
  "bin/python$minor" bin/python3 bin/python "lib/libpython$minor.so.1.0" "lib/libpython$minor.so" \
  lib/libpython3.so "lib/python$minor" include | tar -C "$root/usr/local" -x
if [[ -f $host_ca ]]; then
  cp "$host_ca" "$root/usr/local/share/ca-certificates/host-trust.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
fi
chroot "$root" /bin/sh -ec "
  ldconfig
  update-ca-certificates >/dev/null 2>&1
  PIP_ROOT_USER_ACTION=ignore /usr/local/bin/python$minor -m ensurepip --default-pip >/dev/null
  ln -sf pip3 /usr/local/bin/pip
  rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
"

echo "base-image: docker import $tag"
previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "ENV PYTHON_VERSION=$version" \
  --change "LABEL $label=$recipe" \
  --change 'CMD ["python3"]' \
  - "$tag" >/dev/null
# The stand-in it replaces (an older recipe), unless a container or image still uses it.
[[ -z $previous ]] || docker rmi "$previous" >/dev/null 2>&1 || true
docker run --rm "$tag" python -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib, platform; print('base-image: $tag: Python', platform.python_version())"
