"""Perception layer: face detection and alignment, gaze encoders, gaze analysis.

Submodules import their heavy dependencies (torch, cv2, mediapipe) lazily; importing this
package is cheap.
"""
