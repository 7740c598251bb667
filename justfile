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

# Lint, then run every test (extra args go to pytest, e.g. `./dev test -k mock`)
test *args:
    ruff check .
    pytest -q "$@"

# Run the unit tests only: no servers needed
unit *args:
    pytest -q tests/unit "$@"

# Run the integration tests only: they start their own stack on free ports
integration *args:
    pytest -q tests/integration "$@"

# Check lint and formatting without changing files
lint:
    ruff check .
    ruff format --check .

# Format the code and apply safe lint fixes
fmt:
    ruff format .
    ruff check --fix .

# Run the benchmark (see bench/)
bench *args:
    python -m bench "$@"

# Run only the scriptable mock LLM (default port 9901)
mock port="9901":
    python -m deploy.local.mock_llm --port "$1"

# Delete local data: .data holds the stack's NATS and MongoDB storage and logs
clean:
    rm -rf .data
