#!/usr/bin/env bash
# Mutation testing of one core module with mutmut 3: small deliberate bugs are put into the
# module one at a time and the module's fast tests are run; a mutant that no test notices
# "survives". Slow (minutes to an hour per module), so it runs outside CI.
#
#   pip install -e '.[mutation]'                 # mutmut
#   bash scripts/mutation.sh preprocess          # one module; prints the kill rate at the end
#   bash scripts/mutation.sh classical/features  # modules are named as under src/napari_steatosis/
#   MUTATION_DIR=/tmp/mut bash scripts/mutation.sh fibrosis   # keep the work folder (default: a temp one)
#   MUTATION_DIR=/tmp/mut bash scripts/mutation.sh fibrosis survivors   # after adding tests: rerun the survivors
#
# The repository is copied into a work folder first, so the checkout is never touched, and
# `mutmut results` / `mutmut show NAME` can be run in $MUTATION_DIR afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

module=${1:-}
# the fast tests that guard each module (never the napari viewer tests)
case "$module" in
  preprocess)         tests=(tests/test_preprocess.py) ;;
  fibrosis)           tests=(tests/test_fibrosis.py) ;;
  measure)            tests=(tests/test_measure.py) ;;
  unet/predict)       tests=(tests/test_unet.py -k "stand_in or scale or cancels or tile_plan or device or needed") ;;
  classical/labels)   tests=(tests/test_classical_labels.py) ;;
  classical/model)    tests=(tests/test_classical_model.py) ;;
  classical/pipeline) tests=(tests/test_classical_pipeline.py tests/test_classical_predict.py) ;;
  classical/candidates) tests=(tests/test_classical_candidates.py tests/test_classical_white.py
                        tests/test_classical.py::test_candidates_find_white_regions_and_grow_back) ;;
  classical/white)    tests=(tests/test_classical_white.py tests/test_classical_white_levels.py) ;;
  classical/features) tests=(tests/test_classical_features.py tests/test_classical.py -k "features or hu_moments or merged_vacuoles") ;;
  classical/*)        tests=(tests/test_classical.py -k "not widget and not cli and not options") ;;
  unet/complete)      tests=(tests/test_complete.py) ;;
  stain)              tests=(tests/test_stain.py) ;;
  magnification)      tests=(tests/test_magnification.py) ;;
  evaluate)           tests=(tests/test_evaluate_numbers.py tests/test_evaluate_sizes.py tests/test_evaluate_split.py) ;;
  data/images)        tests=(tests/test_image_formats.py tests/test_dataset_io.py) ;;
  data/dataset)       tests=(tests/test_dataset_io.py) ;;
  data/atomic)        tests=(tests/test_dataset_io.py) ;;
  *) echo "usage: bash scripts/mutation.sh MODULE  (preprocess, fibrosis, measure, stain, magnification, evaluate, unet/predict, unet/complete, classical/NAME, data/images, data/dataset, data/atomic)" >&2
     exit 2 ;;
esac
src="src/napari_steatosis/$module.py"
[ -f "$src" ] || { echo "mutation.sh: $src not found" >&2; exit 2; }
python3 -c "import mutmut" 2>/dev/null || { echo "mutation.sh: mutmut is not installed: pip install -e '.[mutation]'" >&2; exit 2; }

work=${MUTATION_DIR:-$(mktemp -d -t steatosis-mutation.XXXXXX)}
again=()
if [ "${2:-}" = "survivors" ]; then
  # rerun only the survivors of an earlier run in $MUTATION_DIR against the current tests
  [ -f "$work/survivors.txt" ] || { echo "mutation.sh: no earlier run in MUTATION_DIR=$work" >&2; exit 2; }
  # (and those that timed out or crashed: a hang is not a kill until it is seen again)
  mapfile -t again < <(grep -oE '^ *[^ :]+: (survived|no tests|timeout|segfault)' "$work/survivors.txt" | sed -E 's/^ *//; s/:.*//')
  rm -rf "$work/tests" "$work/mutants/tests"
  cp -r tests "$work/"
  cp -r tests "$work/mutants/"
else
  mkdir -p "$work"
  rm -rf "$work/src" "$work/tests" "$work/mutants" "$work/sample_data" "$work/generated"
  cp -r src tests sample_data "$work/"
fi
# the tests that read ../shared/real-tiles find them in the mutants' copy too (also_copy; else they skip)
[ -d ../shared ] && ln -sfn "$(cd ../shared && pwd)" "$work/shared"
find "$work" -name __pycache__ -prune -exec rm -rf {} +

# pytest arguments as a TOML list
toml_list() { local out="" a; for a in "$@"; do out+="\"$a\", "; done; echo "[${out%, }]"; }
[ ${#again[@]} -gt 0 ] && cp "$work/pyproject.toml" "$work/pyproject.before"
cat > "$work/pyproject.toml" <<EOF
[tool.mutmut]
source_paths = ["src"]
only_mutate = ["$src"]
also_copy = ["sample_data", "shared"]
pytest_add_cli_args_test_selection = $(toml_list "${tests[@]}")
pytest_add_cli_args = ["-p", "no:xvfb", "-p", "no:napari", "-p", "no:napari-plugin-engine", "-p", "no:cacheprovider",
                       "-m", "not real", "-W", "ignore::DeprecationWarning"]
timeout_multiplier = 5.0
timeout_constant = 10.0

[tool.pytest.ini_options]
markers = ["tensorflow: imports TensorFlow", "real: needs ../shared/real-tiles"]
EOF

if [ ${#again[@]} -gt 0 ] && ! cmp -s "$work/pyproject.before" "$work/pyproject.toml"; then
  # mutmut forgets every earlier result when the test selection changes: the totals would be wrong
  echo "mutation.sh: this module's test selection changed since that run; run it afresh" >&2
  exit 2
fi
cd "$work"
echo "mutating $src with ${tests[*]} in $work" >&2
# generated test datasets are made once and reused by every mutant's test run (tests/conftest.py)
export TF_CPP_MIN_LOG_LEVEL=3 STEATOSIS_TEST_DATA_CACHE="$work/generated"
# mutmut forks a child per mutant from a process whose tests already ran scikit-learn's OpenMP
# code (gradient boosting); OpenMP thread pools do not survive a fork, so the child hangs and the
# mutant is counted as a timeout, i.e. as killed. One OpenMP thread has no pool to lose.
export OMP_NUM_THREADS=1
python3 -m mutmut run --max-children "${MUTATION_JOBS:-1}" "${again[@]}" >mutmut-run.log 2>&1 || { tail -30 mutmut-run.log >&2; exit 1; }
python3 -m mutmut export-cicd-stats >/dev/null
python3 -m mutmut results > survivors.txt || true
python3 - "$module" <<'EOF'
import json, sys
s = json.load(open("mutants/mutmut-cicd-stats.json"))
killed = s["killed"] + s.get("timeout", 0) + s.get("caught_by_type_check", 0)
alive = s["survived"] + s.get("no_tests", 0)
total = killed + alive
rate = 100.0 * killed / total if total else float("nan")
print(f"{sys.argv[1]}: {killed} of {total} mutants killed ({rate:.1f} %), {s['survived']} survived, "
      f"{s.get('no_tests', 0)} not covered by the tests, {s.get('suspicious', 0)} suspicious, "
      f"{s.get('skipped', 0)} skipped")
EOF
echo "survivors: $work/survivors.txt (see one with: cd $work && python3 -m mutmut show NAME)"
