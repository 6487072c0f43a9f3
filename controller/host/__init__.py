"""Host-side services shared by the tooling: input files, settings flashing, wall-clock pacing, progress.

These run on the engineer's computer, never on the pen. They may use the firmware
package (to drive a controller in real time) but the firmware never uses them.
"""
