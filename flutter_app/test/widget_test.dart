import 'dart:typed_data';

import 'package:flutter/material.dart';
import 'package:flutter_test/flutter_test.dart';
import 'package:paddy_edge_app/main.dart';
import 'package:paddy_edge_app/src/classifier.dart';
import 'package:paddy_edge_app/src/model_card.dart';
import 'package:paddy_edge_app/src/photo_source.dart';

const _card = ModelCard(
  name: 'paddy-edge',
  labels: ['bacterial_leaf_blight', 'blast', 'normal', 'tungro'],
  width: 224,
  height: 224,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  placeholder: false,
  phone: PhoneProgram(format: 'executorch', file: 'model.pte', sha256: '0123456789abcdef0123', int8: false),
);

class FakeClassifier implements Classifier {
  FakeClassifier({this.card = _card, this.loadError, this.classifyError});

  final ModelCard card;
  final String? loadError;

  /// Thrown by classify (a [ClassifierException] or anything else).
  final Object? classifyError;
  Uint8List? lastImage;

  @override
  Future<ModelCard> load() async {
    if (loadError != null) {
      throw ClassifierException(loadError!);
    }
    return card;
  }

  @override
  Future<ClassificationResult> classify(Uint8List imageBytes) async {
    lastImage = imageBytes;
    final error = classifyError;
    if (error != null) {
      throw error;
    }
    return ClassificationResult(
      top: topK([0.81, 0.12, 0.05, 0.02], card.labels, 3),
      elapsed: const Duration(milliseconds: 42),
    );
  }
}

final _photo = Uint8List.fromList(List<int>.filled(64, 7));

Future<void> _pump(
  WidgetTester tester,
  FakeClassifier classifier, {
  PickImage? pickImage,
  RecoverLostPhoto? recoverLostPhoto,
}) async {
  await tester.pumpWidget(
    PaddyEdgeApp(
      classifier: classifier,
      pickImage: pickImage ?? ((_) async => _photo),
      recoverLostPhoto: recoverLostPhoto ?? (() async => null),
    ),
  );
  await tester.pumpAndSettle();
}

void main() {
  testWidgets('a photo from the gallery shows the top 3 labels and the time', (tester) async {
    final classifier = FakeClassifier();
    await _pump(tester, classifier);

    await tester.tap(find.byKey(const Key('pick-gallery')));
    await tester.pumpAndSettle();

    expect(classifier.lastImage, _photo);
    expect(find.text('Bacterial leaf blight'), findsOneWidget);
    expect(find.text('81.0%'), findsOneWidget);
    expect(find.text('Blast'), findsOneWidget);
    expect(find.text('Normal'), findsOneWidget);
    expect(find.text('Tungro'), findsNothing);
    expect(find.text('Inference: 42 ms on this phone'), findsOneWidget);
  });

  testWidgets('the model and the program it runs are named', (tester) async {
    await _pump(tester, FakeClassifier());

    expect(find.text('Model: paddy-edge, ExecuTorch fp32 (model.pte, sha256 0123456789ab...)'), findsOneWidget);
  });

  testWidgets('a model that fails to load says so and disables the buttons', (tester) async {
    await _pump(tester, FakeClassifier(loadError: 'The model could not be loaded: bad file'));

    expect(find.text('The model could not be loaded: bad file'), findsOneWidget);
    final camera = tester.widget<FilledButton>(find.byKey(const Key('pick-camera')));
    expect(camera.onPressed, isNull);
  });

  testWidgets('an image that cannot be decoded gets a clear message', (tester) async {
    await _pump(tester, FakeClassifier(classifyError: const ImageDecodeException(decodeFailureMessage)));

    await tester.tap(find.byKey(const Key('pick-camera')));
    await tester.pumpAndSettle();

    expect(find.byKey(const Key('error')), findsOneWidget);
    expect(find.text(decodeFailureMessage), findsOneWidget);
  });

  testWidgets('a model that fails on a photo says so, not that the photo is bad', (tester) async {
    const failure = InferenceException('The model could not run on this photo (error: out of memory).');
    await _pump(tester, FakeClassifier(classifyError: failure));

    await tester.tap(find.byKey(const Key('pick-gallery')));
    await tester.pumpAndSettle();

    expect(find.text(failure.message), findsOneWidget);
    expect(find.text(decodeFailureMessage), findsNothing);
  });

  testWidgets('an unexpected classifier error is shown and the buttons come back', (tester) async {
    await _pump(tester, FakeClassifier(classifyError: StateError('isolate died')));

    await tester.tap(find.byKey(const Key('pick-gallery')));
    await tester.pumpAndSettle();

    expect(find.textContaining('isolate died'), findsOneWidget);
    final gallery = tester.widget<OutlinedButton>(find.byKey(const Key('pick-gallery')));
    expect(gallery.onPressed, isNotNull);
  });

  testWidgets('a denied camera permission is explained, not swallowed', (tester) async {
    const denied = PhotoException('The camera permission was denied. Allow it in Settings.');
    final classifier = FakeClassifier();
    await _pump(tester, classifier, pickImage: (_) async => throw denied);

    await tester.tap(find.byKey(const Key('pick-camera')));
    await tester.pumpAndSettle();

    expect(find.text(denied.message), findsOneWidget);
    expect(classifier.lastImage, isNull);
    final camera = tester.widget<FilledButton>(find.byKey(const Key('pick-camera')));
    expect(camera.onPressed, isNotNull);
  });

  testWidgets('a photo kept while Android killed the app is classified on the next start', (tester) async {
    final classifier = FakeClassifier();
    await _pump(tester, classifier, recoverLostPhoto: () async => _photo);

    expect(classifier.lastImage, _photo);
    expect(find.text('Bacterial leaf blight'), findsOneWidget);
  });

  testWidgets('a lost pick that had failed is explained on the next start', (tester) async {
    const lost = PhotoException('No camera app is available on this phone.');
    await _pump(tester, FakeClassifier(), recoverLostPhoto: () async => throw lost);

    expect(find.text(lost.message), findsOneWidget);
  });

  testWidgets('the placeholder model is flagged', (tester) async {
    const placeholder = ModelCard(
      name: 'paddy-edge-placeholder',
      labels: ['a', 'b', 'c'],
      width: 224,
      height: 224,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      placeholder: true,
    );
    await _pump(tester, FakeClassifier(card: placeholder));

    expect(find.byKey(const Key('placeholder-warning')), findsOneWidget);
  });
}
