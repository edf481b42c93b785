"""Operations: the per-client run lock, run summaries for log shippers, scheduled units,
the site-config template and the machine checks behind ``keyturn doctor``."""
