#!/usr/bin/env bash
# Installs Gitaly's protocol definitions into .gitaly-proto/ (git-ignored) from Debian's
# golang-gitaly-proto-dev package: the shell family's Gitaly client is generated from them at
# build time (functions/shell/build.rs runs this when they are missing). The messages it uses
# (CommitService.CommitIsAncestor, Repository) have not changed since that release.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.gitaly-proto"
if [[ -f "$dest/commit.proto" && -f "$dest/shared.proto" ]]; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download golang-gitaly-proto-dev > "$work/apt.log" 2>&1; then
  echo "could not download golang-gitaly-proto-dev with apt-get; its log:" >&2
  cat "$work/apt.log" >&2
  exit 1
fi
dpkg-deb -x golang-gitaly-proto-dev_*.deb extracted
mkdir -p "$dest"
cp extracted/usr/share/gocode/src/gitlab.com/gitlab-org/gitaly-proto/*.proto "$dest/"
echo "Gitaly protocol definitions installed into $dest" >&2
