from vidmesh_services.runtime.ids import new_id


def test_ids_never_start_with_a_dash() -> None:
    """A leading '-' would make `vidmesh videos get ID` read the id as an option."""
    ids = [new_id() for _ in range(5000)]  # ~78 would start with '-' if drawn plainly
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 11 for i in ids) and len(set(ids)) == len(ids)
