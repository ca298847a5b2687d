"""Re-key the committed student under the provenance key the code now uses (one-off, kept as a record).

The student in cache/models was trained at 20ab642 (distilled from the teacher entry
320a1503a9bd9dd642cc at T = 100), keyed then by the bytes of its soft labels. Those bytes are not
stable across machines or thread counts (the teacher's softmax(Z/100) on the 60,000 training
images hashes differently with 1 and 2 threads), so on the next machine the run missed the entry
and began to train the student again. The code now keys the student by where its labels came
from (``DefensiveDistillation.soft_label_identity``). This script checks that the stored entry is
that student (its own key, its init and images equal to the teacher's, the teacher's key in the
cache) and stores the same sealed weights under the new key, recording the old one.

    python runs/defensive-distillation/rekey_student.py runs/defensive-distillation/cache
"""

import json
import shutil
import sys
from pathlib import Path

from artx import atomic, registry
from artx.data import fingerprint, load
from artx.model_cache import cache_key
from artx.models import build_model, to_art_classifier

OLD_STUDENT, TEACHER, TEMPERATURE = "cbda476d0b0b05ab251e", "320a1503a9bd9dd642cc", 100.0

models = Path(sys.argv[1]) / "models"
student = json.loads((models / f"cw-mnist-{OLD_STUDENT}.json").read_text())
teacher = json.loads((models / f"cw-mnist-{TEACHER}.json").read_text())
assert cache_key(student["spec"]) == OLD_STUDENT and cache_key(teacher["spec"]) == TEACHER
assert student["spec"]["init"] == teacher["spec"]["init"] and student["spec"]["seed"] == teacher["spec"]["seed"]
build_model("cw-mnist").load_state_dict(atomic.torch_load_sealed(models / f"cw-mnist-{OLD_STUDENT}.pt"))

x, y = load("mnist", "train", data_dir="../shared/data")
assert fingerprint(x, y) == teacher["spec"]["data"], "the teacher was trained on other images"
distiller = registry.create(
    "trainer", "defensive-distillation", to_art_classifier(build_model("cw-mnist")), temperature=TEMPERATURE
)
spec = {**student["spec"], "data": distiller.soft_label_identity(TEACHER, x)}
key = cache_key(spec)
shutil.copyfile(models / f"cw-mnist-{OLD_STUDENT}.pt", models / f"cw-mnist-{key}.pt.tmp")
atomic.write_json(models / f"cw-mnist-{key}.json", {**student, "spec": spec, "key": key, "rekeyed_from": OLD_STUDENT})
(models / f"cw-mnist-{key}.pt.tmp").rename(models / f"cw-mnist-{key}.pt")
(models / f"cw-mnist-{OLD_STUDENT}.pt").unlink()
(models / f"cw-mnist-{OLD_STUDENT}.json").unlink()
print(f"student {OLD_STUDENT} -> {key}")
