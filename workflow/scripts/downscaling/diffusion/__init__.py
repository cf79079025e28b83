"""Diffusion pieces, each small and separately testable: the noise schedule (:mod:`.schedule`),
what the network predicts and its loss (:mod:`.losses`), and the samplers (:mod:`.samplers`)."""
