import 'dart:io';

import 'package:flutter_test/flutter_test.dart';
import 'package:paddy_edge_app/src/classifier.dart';
import 'package:paddy_edge_app/src/model_card.dart';

void main() {
  test('the committed model card parses and matches labels.txt', () {
    final card = ModelCard.parse(File('assets/models/model_card.json').readAsStringSync());
    final labels = File('assets/labels/labels.txt').readAsStringSync().split('\n');
    expect(card.labels, labels);
    expect(card.numClasses, 10);
    expect(card.mean, hasLength(3));
  });

  test('a card whose labels and class count disagree is rejected', () {
    const json = '{"name": "m", "labels": ["a"], "num_classes": 2, "placeholder": false,'
        ' "input": {"width": 8, "height": 8, "mean": [0, 0, 0], "std": [1, 1, 1]}}';
    expect(() => ModelCard.parse(json), throwsFormatException);
  });

  test('labels read as people say them', () {
    expect(humanizeLabel('bacterial_leaf_blight'), 'Bacterial leaf blight');
    expect(humanizeLabel('blast'), 'Blast');
    expect(humanizeLabel('dead_heart'), 'Dead heart');
  });

  test('topK orders by probability and checks the count', () {
    final top = topK([0.1, 0.6, 0.3], ['a', 'b', 'c'], 2);
    expect(top.map((p) => p.label), ['b', 'c']);
    expect(() => topK([0.5, 0.5], ['a'], 1), throwsA(isA<ClassifierException>()));
  });
}
