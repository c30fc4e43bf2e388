"""deidnode: a DICOM de-identification node."""

__version__ = "0.1.0"

# Our Implementation Class UID (PS3.7 D.3.3.2): registered under the 2.25 UUID-derived root.
IMPLEMENTATION_CLASS_UID = "2.25.206318916312839541867151622736584113187"
IMPLEMENTATION_VERSION_NAME = "DEIDNODE_010"
