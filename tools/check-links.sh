#!/usr/bin/env bash
# Checks that every relative Markdown link in README.md, ARCHITECTURE.md, CONTRIBUTING.md
# and docs/*.md resolves: the file (or directory) exists, and a `#anchor` names a heading
# of the target file (GitHub's rule: lower case, punctuation dropped, spaces to hyphens,
# -1, -2, … for repeated headings). Links inside fenced code blocks and inline code are
# ignored; http(s), mailto and other URLs are not checked.
#
# Usage: tools/check-links.sh [FILE.md ...]   (from anywhere; default: the files above)
# Needs only bash, awk and the coreutils. Exit status 1 if any link is broken.
set -euo pipefail
export LC_ALL=C   # byte-wise awk: the same in mawk and gawk

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if (($# > 0)); then
    files=("$@")
else
    files=(README.md ARCHITECTURE.md CONTRIBUTING.md docs/*.md)
fi

# The anchors of a Markdown file, one per line.
anchors() {
    awk '
        /^[ \t]*(```|~~~)/ { fence = !fence; next }
        fence { next }
        /^#+[ \t]/ {
            h = $0
            sub(/^#+[ \t]+/, "", h); sub(/[ \t]+#*[ \t]*$/, "", h)
            # drop inline markup, keep link text
            gsub(/\[[^]]*\]\([^)]*\)/, "&", h)
            while (match(h, /\[[^]]*\]\([^)]*\)/)) {
                t = substr(h, RSTART + 1, RLENGTH - 1); sub(/\]\(.*$/, "", t)
                h = substr(h, 1, RSTART - 1) t substr(h, RSTART + RLENGTH)
            }
            h = tolower(h)
            out = ""
            n = length(h)
            for (i = 1; i <= n; i++) {
                c = substr(h, i, 1)
                if (c ~ /[a-z0-9_-]/) out = out c
                else if (c == " ") out = out "-"
                else if (c ~ /[\x80-\xff]/) out = out c   # non-ASCII letters are kept
            }
            # GitHub drops non-letter symbols such as × or ≥ too; approximate by
            # removing a few common ones.
            gsub(/×|≥|≤|→|±|—|–|·/, "", out)
            if (out in seen) { seen[out]++; out = out "-" seen[out] } else seen[out] = 0
            print out
        }
    ' "$1"
}

# "line<TAB>target" for every relative link of a Markdown file.
links() {
    awk '
        /^[ \t]*(```|~~~)/ { fence = !fence; next }
        fence { next }
        {
            line = $0
            gsub(/`[^`]*`/, "", line)           # inline code
            while (match(line, /\]\([^) \t]+( "[^"]*")?\)/)) {
                t = substr(line, RSTART + 2, RLENGTH - 3)
                sub(/[ \t].*$/, "", t)
                line = substr(line, RSTART + RLENGTH)
                if (t ~ /^[a-zA-Z][a-zA-Z0-9+.-]*:/) continue   # URL with a scheme
                print NR "\t" t
            }
        }
    ' "$1"
}

broken=0
checked=0
for f in "${files[@]}"; do
    [[ -f "$f" ]] || { echo "missing file: $f"; broken=$((broken + 1)); continue; }
    dir=$(dirname "$f")
    while IFS=$'\t' read -r line target; do
        [[ -n "$target" ]] || continue
        checked=$((checked + 1))
        path=${target%%#*}
        anchor=""
        [[ "$target" == *"#"* ]] && anchor=${target#*#}
        if [[ -z "$path" ]]; then
            dest=$f
        else
            dest="$dir/$path"
        fi
        if [[ ! -e "$dest" ]]; then
            echo "$f:$line: broken link '$target' ($dest does not exist)"
            broken=$((broken + 1))
            continue
        fi
        if [[ -n "$anchor" ]]; then
            if [[ -d "$dest" || "$dest" != *.md ]]; then
                echo "$f:$line: anchor '#$anchor' on a target that is not a Markdown file"
                broken=$((broken + 1))
            elif ! anchors "$dest" | grep -qxF -- "$anchor"; then
                echo "$f:$line: no heading for '#$anchor' in $dest"
                broken=$((broken + 1))
            fi
        fi
    done < <(links "$f")
done

echo "check-links: ${checked} relative links in ${#files[@]} files, ${broken} broken"
((broken == 0))
