"""Audio: speech files read as float32 mono waveforms, and where recordings come from."""
