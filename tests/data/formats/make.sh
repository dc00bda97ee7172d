#!/bin/sh
# Makes the fixtures of tests/test_formats.py from the sources in this folder (see README.md).
# Needs LibreOffice (Debian: libreoffice-writer-nogui libreoffice-impress-nogui python3-uno)
# and msoffcrypto-tool (pip). Run from this folder: sh make.sh
set -e
out=$(mktemp -d)
lo="soffice -env:UserInstallation=file:///tmp/lo-profile-fixtures --headless"
html="--infilter=HTML (StarWriter)"
$lo "$html" --convert-to 'docx:MS Word 2007 XML' --outdir "$out" lighthouse.html
$lo "$html" --convert-to odt:writer8 --outdir "$out" beekeeping.html
$lo "$html" --convert-to epub:EPUB --outdir "$out" sourdough.html
$lo "$html" --convert-to 'rtf:Rich Text Format' --outdir "$out" tides.html
$lo --convert-to 'pptx:Impress MS PowerPoint 2007 XML' --outdir "$out" orbits.fodp
/usr/bin/python3 lock_odt.py "$PWD/beekeeping.html" "$out/locked.odt" secret
msoffcrypto-tool -e -p secret "$out/lighthouse.docx" "$out/locked.docx"
cp "$out"/lighthouse.docx "$out"/beekeeping.odt "$out"/sourdough.epub "$out"/tides.rtf \
    "$out"/orbits.pptx "$out"/locked.odt "$out"/locked.docx .
rm -r "$out"
