"""Setting up a roaster's agent: `firstcrack devices` and `firstcrack doctor` (README,
"Setting up the microphone and checking the install").

- `levels`: level statistics (RMS, peak, clipping) and what counts as too quiet or
  clipping, pure numpy;
- `capture`: a few seconds from one input device, measured on the raw samples;
- `device_report`: the device table and the live level meter;
- `checks`: the result type every doctor check returns, and the timeout around each;
- `doctor`: the config, state directory, model and audio source checks, and the run;
- `doctor_mqtt`: the MQTT broker and Home Assistant discovery checks.

These sit above the edges in the layering (tests/test_layout.py): they may import
`sources`, `mqtt`, `config`, `live` and `models.inference`, and nothing imports them but
the CLI.
"""
