#!/usr/bin/env bash
# Checks that docs/api.md mentions every public function.
#
# Usage: check_api_docs.sh [source root]   (default: the parent of tests/)
#
# The function names come from the declarations at file scope in
# include/tapegrad/*.h: comments and preprocessor lines are dropped, the text
# is split into statements at the semicolons outside braces, typedefs are
# skipped, and the identifier right before a statement's first "(" is a
# function when it starts with "tg_". Declarations spread over several lines
# are one statement, so they count like any other. A name counts as
# documented when docs/api.md contains it as a whole word.
set -euo pipefail

root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
doc="$root/docs/api.md"
shopt -s nullglob
headers=("$root"/include/tapegrad/*.h)

if [ ${#headers[@]} -eq 0 ]; then
  echo "api_docs: no headers under $root/include/tapegrad"
  echo "0 passed, 1 failed"
  exit 1
fi
if [ ! -f "$doc" ]; then
  echo "api_docs: $doc does not exist"
  echo "0 passed, 1 failed"
  exit 1
fi

# Prints "header<TAB>name" for every function declared at file scope.
declared_functions() {
  local h
  for h in "$@"; do
    awk -v header="${h##*/}" '
      { text = text $0 "\n" }
      END {
        # 1. block comments (replaced by a space, keeping their newlines)
        out = ""
        while ((i = index(text, "/*")) > 0) {
          out = out substr(text, 1, i - 1) " "
          rest = substr(text, i + 2)
          j = index(rest, "*/")
          if (j == 0) { text = ""; break }
          comment = substr(rest, 1, j - 1)
          out = out gsub_newlines(comment)
          text = substr(rest, j + 2)
        }
        text = out text
        # 2. preprocessor lines (with their continuations) and // comments
        n = split(text, lines, "\n")
        code = ""
        continued = 0
        for (k = 1; k <= n; k++) {
          line = lines[k]
          if (continued || line ~ /^[ \t]*#/) {
            continued = (line ~ /\\$/)
            continue
          }
          sub(/\/\/.*/, "", line)
          code = code " " line
        }
        # 3. statements at brace depth 0
        depth = 0
        stmt = ""
        len = length(code)
        for (k = 1; k <= len; k++) {
          c = substr(code, k, 1)
          if (c == "{") { depth++; continue }
          if (c == "}") { if (depth > 0) depth--; continue }
          if (depth > 0) continue
          if (c == ";") { report(stmt); stmt = ""; continue }
          stmt = stmt c
        }
      }
      function gsub_newlines(s,    t, r) {
        r = ""
        while ((t = index(s, "\n")) > 0) { r = r "\n"; s = substr(s, t + 1) }
        return r
      }
      function report(s,    p, head) {
        sub(/^[ \t\n]+/, "", s)
        if (s ~ /^typedef[ \t\n]/) return
        p = index(s, "(")
        if (p == 0) return
        head = substr(s, 1, p - 1)
        sub(/[ \t\n]+$/, "", head)
        if (match(head, /[A-Za-z_][A-Za-z0-9_]*$/) == 0) return
        head = substr(head, RSTART)
        if (head ~ /^tg_/) print header "\t" head
      }
    ' "$h"
  done
}

total=0
missing=()
while IFS=$'\t' read -r header name; do
  total=$((total + 1))
  if ! grep -qw -- "$name" "$doc"; then
    missing+=("$name ($header)")
  fi
done < <(declared_functions "${headers[@]}" | sort -u -k2,2)

if [ "$total" -eq 0 ]; then
  echo "api_docs: found no function declarations; is the parser broken?"
  echo "0 passed, 1 failed"
  exit 1
fi

echo "api_docs: $total functions declared, $((total - ${#missing[@]})) documented, ${#missing[@]} missing"
if [ ${#missing[@]} -gt 0 ]; then
  echo "not mentioned in docs/api.md:"
  printf '  %s\n' "${missing[@]}"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
