"""The use-case layer: one function per job, shared by the commands and onboard.

Jobs: ``discover`` (discover.py), ``audit_directory`` (directory.py), ``rotate`` and
``verify`` (rotate.py), ``prefill_checklist`` and ``mark_rotations`` (checklist.py),
``write_report`` (report.py); onboard's stages over them (stages.py). Each builds its
request once, works through the domain packages, writes its audit events and updates the
checklist. Operations beside them: the per-client run lock, run summaries for log shippers,
scheduled units, the site-config template and the machine checks behind ``keyturn doctor``.
See docs/architecture.md.
"""
