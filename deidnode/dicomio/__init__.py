"""DICOM at the level of bytes, below everything else: the engine, the receiver, the forwarder and routing use it.

- :mod:`.parse`: Part 10 bytes (or a memory map) to a Dataset, structure checked first (:mod:`.framing`);
- :mod:`.part10`: the engine's output framed as pydicom's ``dcmwrite`` would, or a C-STORE body;
- :mod:`.filemeta`: the one file-meta packer (spool files and output);
- :mod:`.rawvalue`: raw element access, the only module that reaches into a Dataset's element dict;
- :mod:`.tags`: tag keys and VRs, and the PS3.6 entries newer than pydicom's dictionary.

It imports pydicom and nothing of deidnode but the rule data's location and our implementation UID.
"""
