"""Simulated pen hardware in NumPy: actuator, skin, winding temperature, battery, cartridge."""
