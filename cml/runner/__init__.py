"""Cloud machines that register as self-hosted CI runners, take jobs, and always go away.

``spec`` turns iterative/cml's options into a :class:`MachineSpec`; ``startup`` renders
the script the machine runs at boot; ``backends`` start and stop machines (AWS EC2
now); ``launch`` ties a forge registration to a machine so that a failure at any step
leaves neither behind.
"""
