#!/usr/bin/env bash
# Installs the system packages the build needs, only when something is missing.
# Debian/Ubuntu as root (or with sudo): apt-get. Elsewhere: one message naming
# what to install, and exit 1.
set -euo pipefail

packages=()
command -v xelatex >/dev/null || packages+=(texlive-xetex)
kpsewhich tcolorbox.sty >/dev/null 2>&1 || packages+=(texlive-latex-extra)
kpsewhich pdfpages.sty >/dev/null 2>&1 || packages+=(texlive-latex-extra)
kpsewhich helvet.sty >/dev/null 2>&1 || packages+=(texlive-fonts-recommended)
kpsewhich ulem.sty >/dev/null 2>&1 || packages+=(texlive-plain-generic)
command -v latexmk >/dev/null || packages+=(latexmk)
command -v pandoc >/dev/null || packages+=(pandoc)
command -v pdftoppm >/dev/null || packages+=(poppler-utils)
fc-list 2>/dev/null | grep "DejaVuSansMono.ttf" >/dev/null || packages+=(fonts-dejavu-core)  # not grep -q: it would SIGPIPE fc-list under pipefail
# The cover sets any name: Latin, Greek, Cyrillic, Arabic, Devanagari... (Noto core) and CJK (Noto CJK).
fc-list 2>/dev/null | grep "NotoSerif-Regular" >/dev/null || packages+=(fonts-noto-core)
fc-list 2>/dev/null | grep "NotoSansCJK" >/dev/null || packages+=(fonts-noto-cjk)
command -v flock >/dev/null || packages+=(util-linux)
# The offline FashionMNIST copy is optional: without apt the notebooks download it.
optional=()
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || optional+=(dataset-fashion-mnist)

if [ ${#packages[@]} -eq 0 ] && { [ ${#optional[@]} -eq 0 ] || ! command -v apt-get >/dev/null; }; then
    exit 0
fi
packages+=("${optional[@]}")
# de-duplicate
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

if command -v apt-get >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
    if [ "$sudo" != "none" ]; then
        echo "setup: installing system packages: ${packages[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
        exit 0
    fi
fi
echo "setup: please install these (Debian/Ubuntu package names): ${packages[*]}" >&2
echo "       (on macOS: MacTeX, pandoc, latexmk, poppler, the DejaVu and Noto fonts, flock; FashionMNIST then downloads)" >&2
exit 1
