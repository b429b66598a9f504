# Everything the project needs is installed from here: `make run` and `make test` are the two commands.
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_PAGES ?= 1
SIM_PORT ?= 8765
SIM := http://127.0.0.1:$(SIM_PORT)
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-faults bench-console bench-search bench-scheduler bench-history bench-reports bench-followups eval-search install messages clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $$(scripts/python312.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	scripts/install-chromium.sh
	touch $(STAMP)

install: $(STAMP)

## Run the product on the embedded default (SQLite, in-memory layer) with demo data.
run: install
	$(PY) manage.py migrate --noinput
	WECHAT_API_BASE=$(SIM) $(PY) manage.py seed_demo
	@echo "Open http://$(HOST):$(PORT)/widget/demo/ (customer) and http://$(HOST):$(PORT)/console/ (agent)"
	@# The scheduler (deadlines + routing sweep) runs inside the server process on SQLite: docs/scheduler.md.
	@# The WeChat simulator (connectors/wechat/simulator.py) stands in for WeChat's API in the demo: it runs
	@# in the background and is stopped with the server (Ctrl-C), however the server ends.
	$(PY) -m connectors.wechat.simulator --port $(SIM_PORT) & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	WECHAT_API_BASE=$(SIM) WECOM_API_BASE=$(SIM) DEMO_PAGES=$(DEMO_PAGES) $(PY) -m uvicorn helpdesk.asgi:application --host $(HOST) --port $(PORT) --ws-max-size 1048576 --ws-per-message-deflate false

## The whole test suite (SQLite pass, then PostgreSQL + Redis pass).
test: install
	scripts/test.sh

## Messaging benchmark: embedded default and scale-out; prints figures. Then the product against
## the bare stack (scripts/bare_stack) in one run: sustained msg/s, CPU per message, the ratio.
## Last, the fault run (`make bench-faults`). (Console list with 100,000 conversations on PostgreSQL: `make bench-console`.)
bench: install
	$(PY) scripts/bench.py $(BENCH_ARGS)
	$(PY) scripts/bench_ratio.py $(RATIO_ARGS)
	$(PY) scripts/bench_faults.py $(FAULT_ARGS)

## Fault run of the messaging benchmark (2 processes, PostgreSQL, its own redis-server): one app
## process SIGKILLed and restarted, Redis restarted, sockets cut; checks nothing acked is lost: docs/benchmarks.md.
bench-faults: install
	$(PY) scripts/bench_faults.py $(FAULT_ARGS)

## Agent console list benchmark (PostgreSQL, 100,000 conversations): docs/benchmarks.md.
bench-console: install
	$(PY) scripts/bench_console.py $(BENCH_ARGS)

## Knowledge search benchmark, 100,000 articles, SQLite + Whoosh then PostgreSQL (BENCH_ARGS="--backend whoosh" for one): docs/benchmarks.md.
bench-search: install
	$(PY) scripts/bench_search.py $(BENCH_ARGS)

## Scheduler benchmark (PostgreSQL, 10,000 due deadlines, 1 and 2 processes; idle turn on SQLite): docs/benchmarks.md.
bench-scheduler: install
	$(PY) scripts/bench_scheduler.py $(BENCH_ARGS)

## History search benchmark (会话记录): keyword search over generated messages on PostgreSQL (BENCH_ARGS="--conversations 200000"): docs/benchmarks.md.
bench-history: install
	$(PY) scripts/bench_history.py $(BENCH_ARGS)

## Reports benchmark (报表): the reports page over 90 days of 1,000,000 conversations on PostgreSQL (BENCH_ARGS="--conversations 200000"): docs/benchmarks.md.
bench-reports: install
	$(PY) scripts/bench_reports.py $(BENCH_ARGS)

## Bot answer latency through follow-up jobs (a real server on the embedded default): docs/benchmarks.md.
bench-followups: install
	$(PY) scripts/bench_followups.py $(BENCH_ARGS)

## Honest evaluation of the knowledge search and bot (issue 17): dev and frozen test halves of
## customer questions, product vs plain BM25 baselines in one run: docs/benchmarks.md.
eval-search: install
	$(PY) scripts/eval_search.py $(EVAL_ARGS)

## Regenerate translation catalogues (needs gettext).
messages: install
	$(PY) manage.py makemessages --no-obsolete -l zh_Hans -l zh_Hant -l en --ignore=.venv --ignore=staticfiles --ignore=scripts --ignore=templates/admin/search_form.html
	$(PY) scripts/fill_translations.py
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles
