"""Cloud machines that register as self-hosted CI runners, take jobs, and always go away.

``spec`` holds what every cloud shares (a :class:`~cml.runner.spec.MachineSpec`, runner
names and labels); ``startup`` renders the script the machine runs at boot; ``backends``
holds one module per cloud (AWS EC2 now), each knowing its regions, machine types,
images and options and starting and stopping machines; ``launch`` ties a forge
registration to a machine so that a failure at any step leaves neither behind.
"""
