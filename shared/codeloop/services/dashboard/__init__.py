"""The dashboard's use cases (``/app/``): who is signed in (``access``) and what each page shows or
does (``views``). The HTTP side, pages and forms, is ``codeloop.api.dashboard``."""
