# The two commands of the README:
#   make demo [CATALOGUE=folder]   set up and run the pipeline on the embedded default, then serve
#   make test                      set up PostgreSQL + Redis and run the whole test suite
.PHONY: demo test lint format

demo:
	bash scripts/demo.sh $(CATALOGUE)

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
