"""Sampling stage: question suites with trigger sweeps, backends behind one protocol, a crash-safe
request cache and the async engine that fills it. Importing this package never imports openai or torch."""

from weirdgen.sample.base import Sampler, SampleRequest, SampleResult, TransientSampleError

__all__ = ["SampleRequest", "SampleResult", "Sampler", "TransientSampleError"]
