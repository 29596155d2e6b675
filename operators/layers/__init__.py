"""Building blocks shared by the architectures: periodic convolutions and padding (``periodic``), coordinate
and sin-cos embeddings (``embedding``), grid-independent kernels and the NNs-to-NOs conversion
(``resolution``), convolution blocks of the latent-diffusion codebases (``convolution_blocks``), text and
first-frame conditioning (``conditioning``) and diffusion noise schedules (``diffusion``)."""
