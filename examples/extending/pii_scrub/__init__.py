"""pii_scrub: masks e-mail addresses, phone and card numbers in text Examples; rejects records
that are mostly PII. An out-of-tree seqline component: see docs/extending.md."""
