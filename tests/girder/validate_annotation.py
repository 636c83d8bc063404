"""Validate annotation JSON files against large_image's own annotation schema.

Runs in the Girder test environment:  validate_annotation.py FILE [FILE ...]
Prints one JSON line per file: {"file": ..., "valid": bool, "error": str|null}.
"""

import json
import sys

import jsonschema
from girder_large_image_annotation.models.annotation import AnnotationSchema


def main() -> int:
    validator = jsonschema.Draft6Validator(AnnotationSchema.annotationSchema)
    for path in sys.argv[1:]:
        with open(path) as handle:
            data = json.load(handle)
        documents = data if isinstance(data, list) else [data]
        error = None
        for document in documents:
            problem = jsonschema.exceptions.best_match(validator.iter_errors(document))
            if problem is not None:
                error = problem.message
                break
        print(json.dumps({'file': path, 'valid': error is None, 'error': error}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
