#!/usr/bin/env bash
# The README's test command: installs what the tests need from scratch, then runs ruff and the whole test suite.
#   - Debian peers the end-to-end tests talk to (dcmtk, dicom3tools, gdcm tools, Orthanc, Prometheus) and fonts,
#     Tesseract (the second reader of burned-in text) and the pixel benchmark's fonts,
#     headless Chromium (the status page's test) and systemd's tools (systemd-analyze, -sysusers, -tmpfiles:
#     the unit's tests; nothing is started), when running as root on Debian and any is missing;
#   - a virtualenv in .venv with deidnode, its test tools and both OCR engines (the easyocr extra brings torch);
#   - HAProxy for the replicas test, and a Java runtime for the Spark job when the extras include spark.
# Set DEIDNODE_TEST_EXTRAS=test to skip easyocr and spark (their tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${DEIDNODE_TEST_EXTRAS:-test,easyocr,spark}"

need=()
for bin in dcmdump dciodvfy gdcmconv /usr/sbin/Orthanc promtool prometheus haproxy chromium systemd-analyze tesseract; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts)
# the burned-in text benchmark's fonts (bench/pixelset_fonts.py; tests/test_pixelset.py draws with them)
[ -e /usr/share/fonts/truetype/noto/NotoSans-Regular.ttf ] || need+=(bench-fonts)
[ -e /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] || need+=(tesseract-eng)
case ",$extras," in *,spark,*) command -v java >/dev/null 2>&1 || need+=(java) ;; esac
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      dcmtk dicom3tools libgdcm-tools orthanc prometheus fonts-dejavu-core haproxy chromium systemd \
      tesseract-ocr tesseract-ocr-eng \
      fonts-liberation fonts-liberation2 fonts-freefont-ttf fonts-noto-core fonts-noto-mono fonts-croscore \
      fonts-crosextra-carlito fonts-crosextra-caladea fonts-hack fonts-go fonts-open-sans fonts-cantarell \
      fonts-urw-base35 fonts-terminus fonts-terminus-otb xfonts-terminus xfonts-base xfonts-75dpi \
      xfonts-100dpi fonts-unifont >/dev/null
    if [[ " ${need[*]} " == *" java "* ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
    fi
    # The packages' services are not wanted: tests start their own peers on loopback with free ports.
    for svc in orthanc prometheus haproxy; do (service "$svc" stop >/dev/null 2>&1 || true); done
  else
    echo "missing (tests that need them will be skipped): ${need[*]}" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e ".[$extras]"
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache  # the layout as import contracts (pyproject.toml [tool.importlinter])
.venv/bin/mypy  # deidnode/ (pyproject.toml [tool.mypy])
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
# With no arguments (the whole suite), the data path's end-to-end tests once more on the reference DICOM
# implementation (pynetdicom behind the same ports, docs/node.md): ~4.5 min. The whole e2e directory passes on
# it too (DEIDNODE_DIMSE=pynetdicom .venv/bin/python -m pytest tests/e2e); the differential test runs both.
if [ $# -eq 0 ]; then
  DEIDNODE_DIMSE=pynetdicom exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_node_e2e.py \
    tests/e2e/test_tls_e2e.py tests/e2e/test_header_stores_e2e.py tests/e2e/test_metrics_e2e.py \
    tests/e2e/test_replicas_e2e.py
fi
