import 'dart:typed_data';

import 'package:flutter/material.dart';
import 'package:image_picker/image_picker.dart';

import 'classifier.dart';
import 'model_card.dart';
import 'result_view.dart';

/// Returns the bytes of a photo from [source], or null when the person cancels.
typedef PickImage = Future<Uint8List?> Function(ImageSource source);

/// Photos are scaled to at most 1024 px by the picker: the model input is far smaller, and decoding a
/// 12-megapixel photo in Dart would take seconds.
Future<Uint8List?> pickWithImagePicker(ImageSource source) async {
  final file = await ImagePicker().pickImage(source: source, maxWidth: 1024, maxHeight: 1024);
  if (file == null) {
    return null;
  }
  return file.readAsBytes();
}

class HomePage extends StatefulWidget {
  const HomePage({super.key, required this.classifier, required this.pickImage});

  final Classifier classifier;
  final PickImage pickImage;

  @override
  State<HomePage> createState() => _HomePageState();
}

class _HomePageState extends State<HomePage> {
  ModelCard? _card;
  String? _error;
  Uint8List? _photo;
  ClassificationResult? _result;
  bool _busy = true;

  @override
  void initState() {
    super.initState();
    _load();
  }

  Future<void> _load() async {
    ModelCard? card;
    String? error;
    try {
      card = await widget.classifier.load();
    } on ClassifierException catch (failure) {
      error = failure.message;
    }
    if (!mounted) {
      return;
    }
    setState(() {
      _card = card;
      _error = error;
      _busy = false;
    });
  }

  Future<void> _pickAndClassify(ImageSource source) async {
    final photo = await widget.pickImage(source);
    if (photo == null || !mounted) {
      return;
    }
    setState(() {
      _photo = photo;
      _result = null;
      _error = null;
      _busy = true;
    });
    ClassificationResult? result;
    String? error;
    try {
      result = await widget.classifier.classify(photo);
    } on ClassifierException catch (failure) {
      error = failure.message;
    }
    if (!mounted) {
      return;
    }
    setState(() {
      _result = result;
      _error = error;
      _busy = false;
    });
  }

  @override
  Widget build(BuildContext context) {
    final card = _card;
    final ready = card != null && !_busy;
    return Scaffold(
      appBar: AppBar(title: const Text('Paddy Doctor')),
      body: ListView(
        padding: const EdgeInsets.all(16),
        children: [
          if (card != null && card.placeholder)
            const Card(
              key: Key('placeholder-warning'),
              child: ListTile(
                leading: Icon(Icons.warning_amber),
                title: Text('Untrained placeholder model'),
                subtitle: Text('Its answers mean nothing. Install a release build for a trained model.'),
              ),
            ),
          if (_photo != null)
            ClipRRect(
              borderRadius: BorderRadius.circular(12),
              child: Image.memory(
                _photo!,
                height: 280,
                fit: BoxFit.cover,
                errorBuilder: (context, error, stack) =>
                    const SizedBox(height: 120, child: Center(child: Icon(Icons.broken_image, size: 48))),
              ),
            ),
          const SizedBox(height: 16),
          if (_busy) const Center(child: CircularProgressIndicator()),
          if (_error != null)
            Text(_error!, key: const Key('error'), style: TextStyle(color: Theme.of(context).colorScheme.error)),
          if (_result != null) ResultView(result: _result!),
          if (card == null && !_busy && _error == null) const Text('No model.'),
          if (ready && _photo == null && _result == null)
            const Text('Take or choose a photo of a rice plant.', textAlign: TextAlign.center),
        ],
      ),
      bottomNavigationBar: SafeArea(
        child: Padding(
          padding: const EdgeInsets.all(12),
          child: Row(
            children: [
              Expanded(
                child: FilledButton.icon(
                  key: const Key('pick-camera'),
                  onPressed: ready ? () => _pickAndClassify(ImageSource.camera) : null,
                  icon: const Icon(Icons.photo_camera),
                  label: const Text('Camera'),
                ),
              ),
              const SizedBox(width: 12),
              Expanded(
                child: OutlinedButton.icon(
                  key: const Key('pick-gallery'),
                  onPressed: ready ? () => _pickAndClassify(ImageSource.gallery) : null,
                  icon: const Icon(Icons.photo_library),
                  label: const Text('Gallery'),
                ),
              ),
            ],
          ),
        ),
      ),
    );
  }
}
