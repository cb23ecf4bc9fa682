"""REST resources in MaxScale's shape; each module exports ``ROUTES``."""
