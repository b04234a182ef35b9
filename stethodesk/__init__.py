"""StethoDesk: offline auscultation with an on-device audio-language model.

Everything the app says about a sound is decision support, not a diagnosis.
"""

__version__ = "0.1.0"

DISCLAIMER = "Decision support, not a diagnosis. Confirm with clinical examination."
