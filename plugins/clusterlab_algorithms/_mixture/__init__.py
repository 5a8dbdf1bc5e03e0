"""The engine of the Gaussian mixture: covariance algebra and the blocked EM passes."""
