"""Operations: backup and restore of the stores, cleaning old files, the pre-market check (docs/housekeeping.md).

Used by the ``qtml`` CLI and the housekeeping flows; never by the engine process.
"""
