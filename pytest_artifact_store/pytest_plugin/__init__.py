"""The pytest plugin: hook implementations (``plugin``), settings from the command line,
environment and ini file (``settings``), the per-session collector behind the fixture
(``recorder``), the session that commits at the end (``session``) and the
``pytest_artifact_store_*`` hook specs (``hookspecs``). Nothing here is imported beyond
``plugin``, ``settings`` and ``recorder`` unless ``--artifact-store`` is given."""
