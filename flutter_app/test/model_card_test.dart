import 'dart:convert';
import 'dart:io';
import 'dart:typed_data';

import 'package:executorch_flutter/executorch_flutter.dart'
    show ExecuTorchInferenceException, ExecuTorchMemoryException, ExecuTorchValidationException;
import 'package:flutter/services.dart' show PlatformException;
import 'package:flutter_test/flutter_test.dart';
import 'package:image_picker/image_picker.dart' show ImageSource;
import 'package:paddy_edge_app/src/classifier.dart';
import 'package:paddy_edge_app/src/executorch_classifier.dart' show describeInferenceFailure;
import 'package:paddy_edge_app/src/model_card.dart';
import 'package:paddy_edge_app/src/photo_decode.dart' show preparePhoto;
import 'package:paddy_edge_app/src/photo_source.dart';

Map<String, dynamic> _committedCard() =>
    jsonDecode(File('assets/models/model_card.json').readAsStringSync()) as Map<String, dynamic>;

/// The committed card with one input key (or, with [input] false, one top-level key) changed.
Map<String, dynamic> _cardWith(String key, Object? value, {bool input = true}) {
  final card = _committedCard();
  if (input) {
    (card['input'] as Map<String, dynamic>)[key] = value;
  } else {
    card[key] = value;
  }
  return card;
}

void main() {
  test('the committed model card parses and matches labels.txt', () {
    final json = _committedCard();
    final card = ModelCard.fromJson(json);
    final labels = File('assets/labels/labels.txt').readAsStringSync().split('\n');
    expect(card.labels, labels);
    expect(card.numClasses, json['num_classes']);
    expect(card.numClasses, labels.length);
    expect(card.mean, hasLength(3));
  });

  test('a card whose labels and class count disagree is rejected', () {
    final card = _cardWith('num_classes', (_committedCard()['num_classes'] as int) + 1, input: false);
    expect(() => ModelCard.fromJson(card), throwsFormatException);
  });

  group('a card asking for what this app cannot do is refused, naming the key', () {
    final cases = <String, Map<String, dynamic>>{
      'input.resample': _cardWith('resample', 'bilinear'),
      'input.resize': _cardWith('resize', 'center_crop'),
      'input.layout': _cardWith('layout', 'NHWC'),
      'input.channels': _cardWith('channels', 1),
      'input.scale': _cardWith('scale', 1),
      'output': _cardWith('output', 'probabilities', input: false),
      'input.width': _cardWith('width', 0),
    };
    for (final entry in cases.entries) {
      test(entry.key, () {
        expect(
          () => ModelCard.fromJson(entry.value),
          throwsA(isA<FormatException>().having((e) => e.message, 'message', contains(entry.key))),
        );
      });
    }
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

  test('softmax is stable for large logits and sums to one', () {
    final probabilities = softmax([1000, 0, -1000]);
    expect(probabilities.every((p) => p.isFinite), isTrue);
    expect(probabilities[0], closeTo(1, 1e-12));
    expect(probabilities.reduce((a, b) => a + b), closeTo(1, 1e-12));
    expect(softmax([2, 2]), [0.5, 0.5]);
    expect(softmax([1, 2, 3])[2], closeTo(0.6652409557748219, 1e-12));
    expect(() => softmax([double.nan, 1]), throwsA(isA<InferenceException>()));
  });

  group('the phone section', () {
    Map<String, dynamic> withPhone(Map<String, dynamic>? phone) {
      final card = _committedCard();
      if (phone == null) {
        card.remove('phone');
      } else {
        card['phone'] = phone;
      }
      return card;
    }

    const fp32 = {'format': 'executorch', 'file': 'model.pte', 'sha256': 'ab12', 'int8': false};

    test('is read when present and may be absent from an older card', () {
      final phone = ModelCard.fromJson(withPhone(fp32)).phone!;
      expect([phone.format, phone.file, phone.int8], ['executorch', 'model.pte', false]);
      expect(phone.describe, 'ExecuTorch fp32 (model.pte, sha256 ab12)');
      expect(ModelCard.fromJson(withPhone(null)).phone, isNull);
    });

    test('says int8 when the card asked for the int8 program', () {
      final int8 = {...fp32, 'format': 'executorch_int8', 'int8': true};
      expect(ModelCard.fromJson(withPhone(int8)).phone!.describe, startsWith('ExecuTorch int8'));
    });

    final refused = <String, Map<String, dynamic>>{
      'phone.format': {...fp32, 'format': 'lite'},
      'phone.file': {...fp32, 'file': 'model.ptl'},
      'phone.int8': {...fp32, 'int8': 'no'},
    };
    for (final entry in refused.entries) {
      test('a program the app cannot run is refused: ${entry.key}', () {
        expect(
          () => ModelCard.fromJson(withPhone(entry.value)),
          throwsA(isA<FormatException>().having((e) => e.message, 'message', contains(entry.key))),
        );
      });
    }
  });

  test('a photo that cannot be decoded and a model that fails are told apart', () {
    expect(
      () => preparePhoto(Uint8List.fromList(utf8.encode('not a photo')), 4, 4, [0, 0, 0], [1, 1, 1]),
      throwsA(isA<ImageDecodeException>()),
    );
    final failed = describeInferenceFailure(const ExecuTorchInferenceException('shape mismatch'));
    expect(failed, isA<InferenceException>());
    expect(failed.message, contains('shape mismatch'));
    expect(failed.message, isNot(contains('decoded')));
    expect(
      describeInferenceFailure(const ExecuTorchMemoryException('no room')).message,
      contains('out of memory: no room'),
    );
    expect(
      describeInferenceFailure(const ExecuTorchValidationException('expected [1, 3, 224, 224]')).message,
      contains('the input does not fit the model'),
    );
    const decode = ImageDecodeException(decodeFailureMessage);
    expect(describeInferenceFailure(decode), same(decode), reason: 'a readable failure passes through');
    expect(describeInferenceFailure(StateError('boom')).message, contains('boom'));
  });

  test('picker failures read as what to do', () {
    expect(
      describePickFailure(const PlatformException(code: 'camera_access_denied'), ImageSource.camera),
      contains('Settings'),
    );
    expect(
      describePickFailure(const PlatformException(code: 'no_available_camera'), ImageSource.camera),
      contains('gallery'),
    );
    expect(
      describePickFailure(const PlatformException(code: 'odd', message: 'boom'), ImageSource.gallery),
      contains('odd: boom'),
    );
  });
}
