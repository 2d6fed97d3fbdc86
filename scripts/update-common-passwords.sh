#!/usr/bin/env bash
# Regenerate origin/data/common-passwords.txt, the blocklist the origin checks new passwords
# against (origin/src/password/policy.rs; NIST SP 800-63B-4 3.1.1.2, docs/security.md 4.1).
#
#   bash scripts/update-common-passwords.sh
#
# Source: the ranked list `src/passwords.json` (49,233 entries) of the npm package
# @zxcvbn-ts/language-common, pinned below (MIT; its LICENSE.txt is copied next to the list).
# Steps:
#   1. `npm pack` the pinned version into a temporary directory and extract it;
#   2. keep the entries of at least MIN_LENGTH UTF-16 code units (Better Auth's default minimum
#      password length, counted the way JavaScript counts: a shorter entry can never be set, so
#      it would only cost memory);
#   3. NFKC-normalise and lower-case them (the same transform the policy applies to a candidate
#      password), drop duplicates keeping the first (best-ranked) spelling;
#   4. write one entry a line, most common first, and copy the licence.
# Needs npm and python3. The output is deterministic: re-running with the same version gives
# the same file, so a diff shows exactly what a version bump changes.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

PACKAGE="@zxcvbn-ts/language-common"
VERSION="4.1.3"
MIN_LENGTH=8
OUT_DIR="$REPO_ROOT/origin/data"
OUT_LIST="$OUT_DIR/common-passwords.txt"
OUT_LICENSE="$OUT_DIR/common-passwords.LICENSE"

command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 or later"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

log "fetching $PACKAGE@$VERSION"
(cd "$TMP" && run npm pack --silent --no-fund --no-audit "$PACKAGE@$VERSION" >/dev/null)
tarball="$(find "$TMP" -maxdepth 1 -name '*.tgz' -print -quit)"
[ -n "$tarball" ] || die "npm pack produced no tarball"
tar -xzf "$tarball" -C "$TMP" package/src/passwords.json package/LICENSE.txt package/package.json

# Refuse anything but the pinned version (a registry or cache surprise must not go unnoticed).
got="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$TMP/package/package.json")"
[ "$got" = "$VERSION" ] || die "expected $PACKAGE@$VERSION, got version $got"

mkdir -p "$OUT_DIR"
python3 - "$TMP/package/src/passwords.json" "$OUT_LIST.tmp" "$MIN_LENGTH" <<'PY'
import json
import sys
import unicodedata

src, dst, min_length = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, encoding="utf-8") as f:
    ranked = json.load(f)
if not isinstance(ranked, list) or not all(isinstance(p, str) for p in ranked):
    sys.exit("passwords.json: expected a JSON array of strings")


def utf16_len(s: str) -> int:
    # JavaScript's String.prototype.length: UTF-16 code units.
    return len(s.encode("utf-16-le")) // 2


seen = set()
out = []
for p in ranked:
    if utf16_len(p) < min_length:
        continue
    n = unicodedata.normalize("NFKC", p).lower()
    # One entry a line: an entry with a line break (or empty) could not be stored faithfully.
    if not n or "\n" in n or "\r" in n:
        continue
    if n not in seen:
        seen.add(n)
        out.append(n)

with open(dst, "w", encoding="utf-8", newline="\n") as f:
    for p in out:
        f.write(p + "\n")
print(f"{len(ranked)} source entries, {len(out)} kept", file=sys.stderr)
PY
mv "$OUT_LIST.tmp" "$OUT_LIST"
cp "$TMP/package/LICENSE.txt" "$OUT_LICENSE"
log "wrote $(wc -l <"$OUT_LIST") entries to ${OUT_LIST#"$REPO_ROOT"/}"
