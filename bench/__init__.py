"""`make bench`: Records Desk measured side by side with PostgreSQL and the familiar tools.

`python -m bench [--quick] [--runs N] [--only SECTION …]` builds (or reuses) a database
holding a 1,000,000-record organisation and a 100,000-record one with their history,
then measures, in the same run, each of our paths next to its floor (PostgreSQL's own
COPY) and its familiar alternative (django-import-export, the Django admin). Every
measurement is repeated and its median kept; the table is printed and the figures are
written to bench/results.json (see bench/report.py for its shape).

The sections, in the order they run:

* pages   (bench/pages.py): server time of the records browser, changes page, record
  page and timeline over a set of realistic requests, vs the admin, and queries per page;
* load    (bench/load.py): gunicorn with production settings under 32 logged-in clients;
* exports (bench/exports.py): CSV and XLSX of the million rows, vs COPY TO and
  django-import-export, with the exporting process's peak memory;
* imports (bench/imports.py): all new, all unchanged and 10% changed, CSV and XLSX, vs
  COPY FROM and django-import-export, with the importing process's peak memory. They run
  on a copy of the database (CREATE DATABASE … TEMPLATE), dropped afterwards.
"""
