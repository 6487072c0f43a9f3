"""The verification dossier: the design-verification evidence a regulator asks for, made from the simulator.

21 CFR 878.4430's special controls ask for bench tests of depth and puncture-rate accuracy, the maximum safe
depth per labelled indication, software verification and hazard analysis, and labelling facts. Each section
here is computed in the run that writes it (a verification campaign, the operating envelope, the fault
campaign, the rule tables) or read from an input whose SHA-256 is printed beside it (a campaign file, a
pytest JUnit report). Nothing is typed in, and a failing point shows as failing.
"""
