"""Gaze encoders behind one interface (:mod:`dfad_bench.perception.gaze.base`)."""

from dfad_bench.perception.gaze.base import (
    GAZE_ENCODERS,
    INVALID_REASONS,
    GazeEncoder,
    GazeOutput,
    angular_error_deg,
    available_gaze_encoders,
    create_gaze_encoder,
    pitchyaw_to_vector,
    register_gaze_encoder,
    vector_to_pitchyaw,
)

__all__ = [
    "GAZE_ENCODERS",
    "INVALID_REASONS",
    "GazeEncoder",
    "GazeOutput",
    "angular_error_deg",
    "available_gaze_encoders",
    "create_gaze_encoder",
    "pitchyaw_to_vector",
    "register_gaze_encoder",
    "vector_to_pitchyaw",
]
