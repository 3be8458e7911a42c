"""Market data: timeframes, reading/validating candle files, resampling and alignment, the store, downloads.

Modules (import the one you need; this package imports nothing heavy):
  timeframes  names and durations (`15m 1h 4h 1d`, aliases `M15 H1 H4 D1`)
  io          `read_candles`, `write_candles`, `parse_name`, `infer_timeframe`
  validate    `check_candles` (one-line DataErrors), `find_gaps`, `report` -> `DataReport`
  resample    `resample`, `align`, `align_indices` (the only alignment code)
  store       the local candle store: `load`, `append`, `store_path`, `find`
  download    ccxt downloads: `download`, `download_to_file`, `download_to_store`
  sample      the bundled sample: `ensure_sample`, `sample_path`, `data_dir`
"""
