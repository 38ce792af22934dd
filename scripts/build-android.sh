#!/usr/bin/env bash
# Build the handheld's APK (docs/android.md): compile the translations, gather the fonts the
# APK carries into fonts/, then run buildozer (which needs the Android SDK and NDK; buildozer
# downloads them on its first run). Extra arguments go to buildozer (default: android debug).
#   CHAOSHOU_APK_RARE_FONTS=0   leave the rare-character fonts out (≈ 54 MB smaller APK)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m terminal.ui.i18n                 # .po -> .mo with Babel: the APK carries no .po
mkdir -p fonts
copy_font() {  # copy the first of the given files that exists
  for f in "$@"; do
    if [ -f "$f" ]; then cp -u "$f" fonts/; return 0; fi
  done
  echo "font not found: $*" >&2; return 1
}
copy_font /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
if [ "${CHAOSHOU_APK_RARE_FONTS:-1}" = 1 ]; then
  copy_font /usr/share/fonts/truetype/hanazono/HanaMinA.ttf
  copy_font /usr/share/fonts/truetype/hanazono/HanaMinB.ttf
fi
for font in fonts/*.tt[cf] fonts/*.otf; do   # character maps, so the device never reads them
  [ -f "$font" ] && "$PY" -c 'import sys; from devices.printer.fonts import save_coverage; save_coverage(sys.argv[1])' "$font"
done
command -v buildozer >/dev/null || "$PY" -m pip install -q "buildozer>=1.5"
[ $# -gt 0 ] || set -- android debug
exec "${BUILDOZER:-buildozer}" "$@"
