"""Product catalogs: the products a backend indexes and a judge reads."""
