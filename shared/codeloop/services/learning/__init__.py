"""Learning from outcomes: the posteriors template selection samples (:mod:`.outcomes`) and
failure memory (:mod:`.memory`). The math is pure, in :mod:`codeloop.domain.learning` and
:mod:`codeloop.domain.fix_memory`; this room reads and writes PostgreSQL for it."""
