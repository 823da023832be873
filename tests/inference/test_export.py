"""Exports: OBJ/PLY per hand and the GLB scene reload with the hand model's vertex and face counts; JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from eanet.errors import InvalidInputError
from eanet.inference.export import to_axes, write_glb, write_json, write_mesh, write_prediction_meshes


@pytest.fixture
def prediction(fake_predictor, image_dir):
    return fake_predictor.predict(image_dir / "a.png", cropped=True)


@pytest.mark.parametrize("axes", ["opencv", "yup"])
def test_obj_and_ply_keep_vertex_order_and_counts(prediction, tmp_path, axes):
    paths = write_prediction_meshes(prediction, tmp_path, axes=axes)
    assert set(paths) == {"right_obj", "right_ply", "left_obj", "left_ply", "glb"}
    for side, hand in prediction.hands():
        for kind in ("obj", "ply"):
            mesh = trimesh.load(paths[f"{side}_{kind}"], process=False)
            assert mesh.vertices.shape == hand.verts_cam.shape, (side, kind)
            assert mesh.faces.shape == hand.faces.shape, (side, kind)
            np.testing.assert_allclose(mesh.vertices, to_axes(hand.verts_cam, axes), atol=1e-5)
            np.testing.assert_array_equal(mesh.faces, hand.faces)


def test_yup_axes_flip_y_and_z():
    pts = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(to_axes(pts, "yup"), [[1.0, -2.0, -3.0]])
    with pytest.raises(InvalidInputError):
        to_axes(pts, "zup")
    with pytest.raises(InvalidInputError):
        write_mesh(pts, np.zeros((0, 3), int), "mesh.stl")


def test_glb_holds_both_hands_placed_with_their_own_materials(prediction, tmp_path):
    path = write_prediction_meshes(prediction, tmp_path)["glb"]
    scene = trimesh.load(path, process=False)
    assert isinstance(scene, trimesh.Scene) and set(scene.geometry) == {"right", "left"}
    for side, hand in prediction.hands():
        mesh = scene.geometry[side]
        assert len(mesh.vertices) == len(hand.verts_cam) and len(mesh.faces) == len(hand.faces)
        # GLB is y-up (glTF): the camera-frame vertices flipped by (1, -1, -1), placed (not wrist-centred)
        world = trimesh.transformations.transform_points(mesh.vertices, scene.graph[side][0])
        np.testing.assert_allclose(world, to_axes(hand.verts_cam, "yup"), atol=1e-5)
    colors = {side: tuple(np.round(scene.geometry[side].visual.material.baseColorFactor[:3], 2)) for side in scene.geometry}
    assert colors["right"] != colors["left"]


def test_glb_directly(tmp_path):
    verts = np.array([[0, 0, 1.0], [0.1, 0, 1], [0, 0.1, 1]])
    faces = np.array([[0, 1, 2]])
    path = write_glb({"right": (verts, faces)}, tmp_path / "one.glb")
    assert len(trimesh.load(path, process=False).geometry["right"].vertices) == 3


def test_prediction_json_round_trips(prediction, tmp_path):
    data = prediction.to_dict()
    path = write_json(data, tmp_path / "p.json")
    back = json.loads(path.read_text())
    assert back["format"] == "eanet-prediction" and back["image_size_wh"] == [96, 80]
    for side, hand in prediction.hands():
        h = back["hands"][side]
        np.testing.assert_allclose(h["joints_2d"], hand.joints_2d, atol=1e-3)
        np.testing.assert_allclose(h["verts_cam"], hand.verts_cam, atol=1e-6)
        assert len(h["hand_pose_aa"]) == 45 and np.array(h["pose_rotmat"]).shape == (16, 3, 3)
        assert 0.0 <= h["confidence"] <= 1.0
    assert back["crop"]["source"] == "cropped" and len(back["crop"]["box_xywh"]) == 4
    np.testing.assert_allclose(back["camera"]["K"], prediction.camera.K, atol=1e-6)
    assert len(back["joint_names"]) == 21 and back["joint_names"][0] == "Wrist"
    assert "verts_cam" not in prediction.to_dict(include_vertices=False)["hands"]["right"]


def test_json_writes_non_finite_numbers_as_null(tmp_path):
    path = write_json({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float32(2.5)}, tmp_path / "x.json")
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None], "c": 2.5}
